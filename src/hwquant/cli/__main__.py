from hwquant.cli.main import main

main()
