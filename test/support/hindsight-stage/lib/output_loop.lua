-- Hindsight 0.16's output loop for one plugin (src/hs_output_plugins.c output_message and
-- update_checkpoint_callback): what a process_message status does to the batching flag, the
-- checkpoint and the sequence id, and when timer_event fires. Test infrastructure, shared by the
-- stage's output.lua (queues, real time, lua_sandbox's limits and errors) and
-- test/lua/fake_hindsight.lua (the busted specs' driver, a simulated clock); the callers own
-- how a plugin is called and what a checkpoint is.
--
--   local loop = output_loop.new{ ticker_interval =, ticker_expires =, async_buffer_size = }
--   local ret = loop:output_message(m, now, hooks)
--     m: the message offered (nil: an idle tick, for timer events only); now: seconds.
--     hooks.process_message(m, sequence_id) -> status (an integer: lua_sandbox's checks are the
--       caller's, > 0 when the plugin is terminated), or nil when m does not match the plugin's
--       message_matcher (not offered);
--     hooks.timer_event(t) -> 0, or > 0 when the plugin is terminated (t: whole seconds);
--     hooks.commit() -> moves the checkpoint to after m;
--     hooks.terminate(reason) -> a status the loop itself refuses (-5 without async_buffer_size).
--     Returns the status (-3: offer m again later), or 1 when the plugin is terminated.
--   loop:update_checkpoint(commit) -- update_checkpoint() without arguments: ends a batch
--   loop.batching, loop.sequence_id

local M = {}

local floor = math.floor

local Loop = {}
Loop.__index = Loop

function M.new(opts)
  return setmetatable({
    batching = false,
    sequence_id = 1,
    ticker_interval = opts.ticker_interval or 0,
    ticker_expires = opts.ticker_expires or 0,
    async_buffer_size = opts.async_buffer_size or 0,
  }, Loop)
end

function Loop:output_message(m, now, hooks)
  local ret, te_ret = 0, 0
  if m then
    local status = hooks.process_message(m, self.sequence_id)
    if status then
      ret = status
      if ret <= 0 then
        if ret == 0 then
          self.batching = false
        elseif ret == -4 then
          self.batching = true
        elseif ret == -5 then
          if self.async_buffer_size == 0 then
            hooks.terminate("cannot use async checkpointing without a configured buffer")
            ret = 1
          end
          self.batching = true
        end
        if ret ~= -3 then self.sequence_id = self.sequence_id + 1 end
      end
    end
    if ret <= 0 and not self.batching then hooks.commit() end
  end
  if ret <= 0 and self.ticker_interval > 0 and now >= self.ticker_expires then
    te_ret = hooks.timer_event(floor(now))
    self.ticker_expires = now + self.ticker_interval
  end
  if ret > 0 or te_ret > 0 then return 1 end
  return ret
end

function Loop:update_checkpoint(commit)
  if self.batching then
    commit()
    self.batching = false
  end
end

return M
