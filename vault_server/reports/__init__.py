"""Anonymous demand reports: differentially private counts of opted-in consumers per category and stage."""
