/** The client's tests use the shared fixtures of @shoal/testkit. */
export * from '@shoal/testkit';
