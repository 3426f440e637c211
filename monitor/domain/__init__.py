"""The pure domain core: readings and commands in, events out. No I/O and no clock of its own."""
