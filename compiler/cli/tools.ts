/**
 * `npm run tools`: installs (or finds) every pinned tool and prints where each one is.
 */
import { TOOLS, tool, type ToolName } from '../tools.ts';

async function main(): Promise<void> {
  for (const name of Object.keys(TOOLS) as ToolName[]) {
    console.log(`${name} ${TOOLS[name].version}: ${await tool(name)}`);
  }
}

main().catch((error: unknown) => {
  console.error(`tools: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
