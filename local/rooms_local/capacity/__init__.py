"""The capacity meter of the local stack: what AWS would bill (WCU/RCU per partition key, table and GSIs)
for every DynamoDB request the functions make, AWS's throttling per partition key, and fault injection.

Nothing here is imported by the functions: the meter is a proxy on the DynamoDB endpoint they already use.
"""
