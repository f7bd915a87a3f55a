"""One module per verb: Options (frozen), then run(options, deps) -> ExitCode (kubectl's
Complete → Validate → Run; docs/design.md §9.15). Commands read state files and plan files; they print only
through ``Output`` (which scrubs secrets)."""
