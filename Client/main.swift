print("nest 0.1.0")
