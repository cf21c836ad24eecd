"""Reports per period and area: JSON, XLSX and one printable page of charts."""
