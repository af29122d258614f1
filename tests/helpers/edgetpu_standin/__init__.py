"""The edgetpu_compiler stand-in image (README.md here) and the int8 conversion its tests use."""
