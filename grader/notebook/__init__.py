"""Reading, rewriting and executing the student's notebook."""
