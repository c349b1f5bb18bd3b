"""A small, real HTTP/1.1 server for lab hosts: it serves exactly what a host's HttpSpec says.

`requests` parses, `responses` answers (routing and common headers) from the content in
`pages`, and `server` runs both on asyncio streams or a blocking socket.
"""
