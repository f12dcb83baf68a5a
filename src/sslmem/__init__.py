"""sslmem: measure how much self-supervised vision encoders memorise individual training images."""

__version__ = "0.1.0"
