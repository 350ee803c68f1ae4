from magnus_core.cli import main

main()
