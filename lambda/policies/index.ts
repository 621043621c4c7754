/**
 * Everything a policy author needs, from one place: the extension point ({@link definePolicy}, the
 * {@link Policy} and {@link PolicyContext} types), the built-in policies and the combinators. The protected
 * route table (`lambda/protected-routes.ts`) and custom policies (files beside this one) import from here.
 */
export {
  allOf,
  anyOf,
  authenticated,
  not,
  requireAnyScope,
  requireScope,
  sourceIpAllowList,
} from './built-in';
export {
  type Decision,
  decidePolicy,
  definePolicy,
  evaluatePolicy,
  POLICY_ERROR,
  type Policy,
  type PolicyContext,
  type PolicyOptions,
  type PolicyVerdict,
  type ProtectedRoute,
  policyName,
  policyReads,
  type RequestFact,
  requestFactsOf,
} from './policy';
