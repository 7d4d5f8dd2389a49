"""Telegram channel posts: the post parser and the Bot API long-poll source."""

from ingest.telegram.parse import DEFAULT_ALIASES, TelegramParseOptions, message_ref, parse_post, parse_post_all

__all__ = ["DEFAULT_ALIASES", "TelegramParseOptions", "message_ref", "parse_post", "parse_post_all"]
