from utsyn.cli import main

main()
