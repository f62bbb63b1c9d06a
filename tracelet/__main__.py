from tracelet.cli import main

main()
