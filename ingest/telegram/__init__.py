"""Telegram channel posts: the post parser and the Bot API long-poll source."""

from ingest.telegram.parse import DEFAULT_ALIASES, TelegramParseOptions, message_ref, parse_post, parse_post_all
from ingest.telegram.source import TelegramApiError, TelegramSource, TelegramSourceConfig, redact_token

__all__ = [
    "DEFAULT_ALIASES",
    "TelegramApiError",
    "TelegramParseOptions",
    "TelegramSource",
    "TelegramSourceConfig",
    "message_ref",
    "parse_post",
    "parse_post_all",
    "redact_token",
]
