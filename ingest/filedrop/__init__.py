"""Files dropped into a watched folder: CSV, JSON and NinjaTrader order instruction files."""

from ingest.filedrop.parse import COLUMNS, ParsedFile, ParsedRow, RowError, parse_file
from ingest.filedrop.watcher import FiledropConfig, FiledropSource, FileOutcome

__all__ = [
    "COLUMNS",
    "FileOutcome",
    "FiledropConfig",
    "FiledropSource",
    "ParsedFile",
    "ParsedRow",
    "RowError",
    "parse_file",
]
