"""The lab's name servers (`servers`), answering from the lab zones (`lookup`) in DNS
messages (`answers`)."""
