"""The workbench's screens: runs, run, diff, start-run form."""
