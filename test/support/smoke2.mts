import { startHindsightStage } from './hindsight-stage.ts';
import { SnapPublisher } from './snap-publisher.ts';
import { stack } from '../../config/stack.ts';
const stage = await startHindsightStage({ configDir: '/tmp/smoke/cfg' });
const pub = new SnapPublisher({ port: stage.hekaPort, config: stack, nodes: 2, seed: 1 });
await pub.tick();
await new Promise(r => setTimeout(r, 2500));
console.log(stage.outputStats('scripted'), stage.inputStats(), stage.checkpoint('scripted'), stage.queueBytes());
await stage.dispose();
