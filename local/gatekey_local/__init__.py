"""What runs the gatekey bundle without AWS (never deployed).

``runtime`` is ``make run``: DynamoDB Local (``dynamodb_local``) and the API Gateway
emulator (``server``, which serves ``rest_gateway`` and ``http_gateway``; both route with
``routing``, call authorizers through ``authorizers`` and handlers through
``lambda_runner``, inside each function's role: ``iam_gate``, ``iam_roles``,
``iam_policy``). ``template`` reads the SAM template; ``cli`` is the admin CLI.
"""
