"""Training the student's networks: budgets per profile, the kit's data, Dice, and calibrated pass marks."""
