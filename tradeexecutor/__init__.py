"""tradeexecutor: an event-sourced trade executor for backtest and live crypto trading."""

__version__ = "0.1.0"
