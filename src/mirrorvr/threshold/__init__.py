"""Motor-threshold estimation: pure estimators (5/10, ML-PEST) and the procedure that runs them.

Estimators are pure state machines over (intensity, positive MEP?) pairs; the procedure fires
single pulses through the safety governor, measures each MEP and feeds the estimator.
"""
