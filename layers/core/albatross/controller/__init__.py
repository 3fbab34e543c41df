"""The controller: what the Lambda handlers call. Ingest, reconcile and the state
machines' steps, composed from the store, the model builder, the planner and the AWS
adapters. Handlers stay thin; everything here takes its settings explicitly."""
