print("recall-registry 0.1.0 (daemon not yet implemented)")
