"""Memorisation measures, as pure functions of representations and alignments.

* :mod:`~sslmem.measures.alignment` — alignment loss of an encoder on augmented views of each point (paper Eq. 1),
  and the same on every layer's output in the same forward passes (LayerMem);
* :mod:`~sslmem.measures.scores` — the SSLMem score from f and g alignments (Eq. 2) and its range normalisation;
* :mod:`~sslmem.measures.unitmem` — UnitMem of every unit (localization paper).
* :mod:`~sslmem.measures.feldman` — Feldman & Zhang's label memorisation of a supervised f/g pair (App. B.3).
"""
