"""Stand-ins for the hardware a clinic has: bedside monitors, infusion pumps and pagers."""
