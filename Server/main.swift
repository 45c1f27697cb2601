print("nest-server 0.1.0")
