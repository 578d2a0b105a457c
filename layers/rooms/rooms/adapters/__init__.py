"""AWS adapters: the pynamodb models, one DynamoDB store per port and the helpers they share, SQS, Scheduler."""
