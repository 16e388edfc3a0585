from vocalmind.cli import main

main()
