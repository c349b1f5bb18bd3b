"""The DNS and e-mail check family, one module per job:

- `family`: the jobs and their observations; `DnsFamily` is what the registry runs.
- `spf`, `dmarc`, `mta_sts`: the mail policies a zone publishes, parsed and judged.
- `dnssec` and `anchors`: the chain of trust from the root anchors down to the zone.
- `zone`: what a zone gives away (transfers, dangling CNAMEs); `ns_version`: what its
  name servers say about their software.

The resolver (`scan.resolve`, `scan.pacing`) and the zone cut (`scan.zone`) stay one level
up: every family uses them.
"""
