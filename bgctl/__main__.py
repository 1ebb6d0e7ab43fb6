from bgctl.cli import main

main()
