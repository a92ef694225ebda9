"""The server side of the seed HOWTO, one module per daemon on the common base in ``base``."""
