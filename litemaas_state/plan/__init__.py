"""The planner: pure functions from (DesiredState, LiveState, now) to a Plan. No I/O, no clock."""
