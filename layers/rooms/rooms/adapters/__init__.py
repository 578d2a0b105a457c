"""AWS adapters: pynamodb models and the store, and the SQS publisher."""
