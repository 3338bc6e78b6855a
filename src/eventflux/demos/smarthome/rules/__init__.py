"""The smart home's rules engine: automations with triggers, conditions and
actions, run modes, durable timers, and a trace of every run."""
