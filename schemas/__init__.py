"""Every type that crosses the wire, as msgspec Structs. No I/O, no ORM: this is the contract."""
