"""The recipe choice by measurement: the verify comparison, the accuracy budget, the candidate search
and its plot. Talks to TensorFlow only through ``hwquant.convert``."""
