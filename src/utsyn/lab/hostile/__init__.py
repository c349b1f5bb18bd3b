"""The hostile lab: servers built to misbehave, for proving that a scan survives them.

Each hostile host has its own loopback address and a name under `hostile.test`, served by a
hostile name server that relays every other question to a normal lab's name server, so one
scan (with the hostile name server as its resolver) covers hostile and normal hosts alike.

| host                     | ports      | behaviour                                              |
|--------------------------|------------|--------------------------------------------------------|
| tarpit.hostile.test      | 22 80 443  | accepts, reads, never answers                          |
| drip.hostile.test        | 22 25 80   | one byte per second, for ever                          |
| headers.hostile.test     | 80         | an endless response head                               |
| bigbody.hostile.test     | 80         | a 1 GiB body, generated as it is read                  |
| gzip-bomb.hostile.test   | 80         | 1 GiB of zeros, gzip-compressed to about 1 MiB         |
| deflate-bomb.hostile.test| 80         | the same as a zlib (deflate) stream                    |
| loop.hostile.test        | 80         | redirects to itself, back and forth                    |
| to-private.hostile.test  | 80         | redirects to http://10.0.0.1/ (out of any scan's scope)|
| to-doc.hostile.test      | 80         | redirects to http://192.0.2.1/                         |
| to-name.hostile.test     | 80         | redirects to a name that resolves to 10.0.0.2          |
| tls-garbage.hostile.test | 443        | answers a ClientHello with ANSI, HTML and binary junk  |
| tls-reset.hostile.test   | 443        | starts a record, then resets the connection            |
| tls-length.hostile.test  | 443        | records whose length fields lie                        |
| banners.hostile.test     | 21 22 25 80| HTML, JavaScript, ANSI escapes, NUL and invalid UTF-8  |
|                          | 110 143    | (also in IMAP and POP3 greetings and answers)          |
| dnsbomb.hostile.test     | 53         | truncates every UDP answer; TCP answers never end      |

Zones: `truncated.hostile.test` (every UDP answer truncated, TCP answers never end) and
`hugetxt.hostile.test` (TXT records of about 50 KB, with control bytes and markup in them).
Nothing is allocated in proportion to what is sent: bodies are repeated views of one block.
"""
