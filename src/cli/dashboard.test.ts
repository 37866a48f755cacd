import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dashboardLink } from './dashboard.ts';

describe('hoody dashboard', () => {
  it('links to the daemon\'s root with the token in the fragment, whatever form the API URL takes', () => {
    for (const base of ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/', 'http://127.0.0.1:8080/api/v1']) assert.equal(dashboardLink(base, 'a+b/c'), 'http://127.0.0.1:8080/#token=a%2Bb%2Fc');
    assert.equal(dashboardLink('https://hoody.example.com/base/', undefined), 'https://hoody.example.com/base/');
  });
});
