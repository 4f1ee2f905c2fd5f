"""Usage sources: where a zone's use is read, beside the probes that read its availability.

RADIUS accounting (``radius``), the operator's monthly CSV (``operator_csv``) and a one-value SQL
read (``sqlquery``, a drill's recovery-point check). Each returns plain values that
``domain.usage`` folds; none of them writes anything.
"""
