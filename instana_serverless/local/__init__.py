"""Running functions locally: the Lambda Runtime API emulator the real ``awslambdaric`` client
talks to, and ``instana-serverless run-lambda`` on top of it. Never imported by the wrappers."""
