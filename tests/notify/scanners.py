"""A virus-scanner hook for the tests: refuses files containing the EICAR test string."""

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def refuse_eicar(data: bytes, filename: str) -> bool:
    return EICAR not in data
