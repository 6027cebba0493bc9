"""What runs the gatekey bundle without AWS (never deployed).

``runtime`` is ``make run``: DynamoDB Local (``dynamodb_local``, which also creates the
table) and the API Gateway emulator (``server``). The server serves a ``rest_gateway``
or an ``http_gateway`` per API (both a ``gateway``: ``routing``, then ``authorizers``,
then ``lambda_runner``), each function in a process of its own (``function_worker``)
with its own environment, inside its role (``iam_gate``, ``iam_roles``,
``iam_policy``). ``template`` reads the SAM template into ``sam_model`` (APIs in
``template_apis``, intrinsics in ``cloudformation``); ``local_aws`` holds the local
run's facts; ``cli`` is the admin CLI.
"""
