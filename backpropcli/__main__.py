from backpropcli.cli import main

main()
