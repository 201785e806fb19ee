"""How close a served probability must be to the expected one to count as right."""

# A row's float32 probability depends on the batch it was computed in: matrix products of
# other sizes take other BLAS paths, which round differently (numpy 2.4's OpenBLAS: up to
# 1.3e-6 on the demo model, 20 units in the last place). Another row's or another version's
# answer is off by far more.
SAME_PROBABILITY = 1e-5
