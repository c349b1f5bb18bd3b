"""vuln"""
