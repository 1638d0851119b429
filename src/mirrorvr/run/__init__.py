"""Every way a session starts (plain, resume, from the store, trial cohort), above the adapters."""
